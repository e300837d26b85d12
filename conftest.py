"""Fixtures shared by every test package: real RabbitMQ/PostgreSQL, processes, helpers."""

pytest_plugins = ["ordreflyt_testkit.fixtures"]
