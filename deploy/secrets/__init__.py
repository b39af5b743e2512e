"""The production stack's secrets: `make secrets` writes them (generate.py), and
docker-compose.yml is read as compose reads it to check that nothing is missing
(compose.py)."""
