#!/bin/sh
# Run once by the postgres image's entrypoint on an empty data directory (docker-compose.yml): MLflow's store.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "CREATE DATABASE mlflow OWNER \"$POSTGRES_USER\""
