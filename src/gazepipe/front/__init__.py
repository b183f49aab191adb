"""The front process: WebSocket sessions, the dispatcher that feeds the ring, and the server that runs them."""
