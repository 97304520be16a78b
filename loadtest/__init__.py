"""Load tests: locust scenarios and a connection swarm; they talk to the engine over the wire."""
