//! emulator: a local stand-in for the Google Cloud REST APIs that chatctl calls.
