// `zombietrace ps` integration tests (issue 4).
