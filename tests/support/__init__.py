"""Helpers shared by the test suites: real servers on loopback, started and stopped for tests."""
