"""Bounded fuzzing against a live server: the REST API from its OpenAPI document
(schemathesis), and random or mutated bytes on the device API (hypothesis)."""
