"""The test suite: test modules, the harness they build on (`tests.harness`), the fakes (`tests.fakes`)."""
