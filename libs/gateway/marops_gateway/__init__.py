"""The console's gateway: the built console on ``/`` and the four service APIs on ``/api/<service>/``."""
