// Tracer integration tests (issue 2).
