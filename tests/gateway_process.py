"""The test gateway's key."""

TEST_API_KEY = "test-key-0123456789abcdef"
