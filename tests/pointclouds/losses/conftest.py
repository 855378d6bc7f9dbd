from tests.pointclouds.losses.properties import single_thread  # noqa: F401  (autouse for tests/losses)
