"""Redis state: the session cache (user states, sessions, slates, candidates), slate signing and the embedded Redis
server."""
