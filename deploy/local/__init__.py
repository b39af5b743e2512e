"""The embedded stack: a local Tansu broker and the five services as child processes."""
