import FastCGI

// The process endpoint as a FastCGI responder; everything it does lives in VisionQueue.
FastCGIMain.run(binary: "vision-process") { try $0.processEndpoints() }
