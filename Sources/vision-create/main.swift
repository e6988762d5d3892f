import FastCGI

// The create endpoint as a FastCGI responder; everything it does lives in VisionQueue.
FastCGIMain.run(binary: "vision-create") { try $0.createEndpoints() }
