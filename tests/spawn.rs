// Spawner integration tests (issue 3).
