-- Row-level security for an app on Supabase that reads its users' vision jobs with its own client
-- (supabase-js, supabase-swift): each signed-in user sees their own jobs, categories, model calls
-- and visions, and nothing else; nobody but Vision Queue writes. See docs/supabase.md.
--
-- Run it once, after Vision Queue has created its schema (start it once with VQ_DATABASE_URL set),
-- in the SQL editor or with psql. It names the schema `vision_queue` (VQ_DATABASE_SCHEMA's
-- default): replace every `vision_queue` if you chose another. Safe to run again.
--
-- Vision Queue itself connects as the tables' owner (the `postgres` role of the connection
-- string), which row-level security does not restrict. `user_id` is the JWT's `sub`, which on
-- Supabase is the user's uuid as text, hence `auth.uid()::text`; `(select auth.uid())` is
-- evaluated once per query rather than once per row.

grant usage on schema vision_queue to authenticated;

-- Read only: the API's own endpoints create, cancel and retry jobs (they enforce the limits).
grant select on vision_queue.vision_generation_jobs, vision_queue.vision_job_categories,
    vision_queue.vision_model_calls, vision_queue.visions, vision_queue.vision_versions
    to authenticated;
-- Nothing for anon, and nothing on the service's own bookkeeping (schema_migrations,
-- vision_job_reruns, vision_webhook_events).
revoke all on all tables in schema vision_queue from anon;

alter table vision_queue.vision_generation_jobs enable row level security;
alter table vision_queue.vision_job_categories enable row level security;
alter table vision_queue.vision_model_calls enable row level security;
alter table vision_queue.visions enable row level security;
alter table vision_queue.vision_versions enable row level security;
alter table vision_queue.vision_job_reruns enable row level security;
alter table vision_queue.schema_migrations enable row level security;
alter table vision_queue.vision_webhook_events enable row level security;

drop policy if exists "own jobs" on vision_queue.vision_generation_jobs;
create policy "own jobs" on vision_queue.vision_generation_jobs
    for select to authenticated
    using (user_id = (select auth.uid())::text);

drop policy if exists "own jobs' categories" on vision_queue.vision_job_categories;
create policy "own jobs' categories" on vision_queue.vision_job_categories
    for select to authenticated
    using (exists (
        select 1 from vision_queue.vision_generation_jobs j
        where j.id = job_id and j.user_id = (select auth.uid())::text));

drop policy if exists "own jobs' model calls" on vision_queue.vision_model_calls;
create policy "own jobs' model calls" on vision_queue.vision_model_calls
    for select to authenticated
    using (exists (
        select 1 from vision_queue.vision_generation_jobs j
        where j.id = job_id and j.user_id = (select auth.uid())::text));

drop policy if exists "own visions" on vision_queue.visions;
create policy "own visions" on vision_queue.visions
    for select to authenticated
    using (user_id = (select auth.uid())::text);

drop policy if exists "own vision versions" on vision_queue.vision_versions;
create policy "own vision versions" on vision_queue.vision_versions
    for select to authenticated
    using (user_id = (select auth.uid())::text);
