CREATE DATABASE museum_sync_dagster OWNER museum;
