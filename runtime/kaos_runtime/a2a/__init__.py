"""The agent as an A2A server (a2a-sdk's JSON-RPC routes around the agentic loop) and the
A2A client used to delegate to peers whose card offers it."""
