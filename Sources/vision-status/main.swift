import FastCGI

// The status endpoint as a FastCGI responder; everything it does lives in VisionQueue.
FastCGIMain.run(binary: "vision-status") { try $0.statusEndpoints() }
