"""Browser support for the tests: headless Chromium driven over the DevTools protocol."""
