"""Comparators: how a shadow comparison decides whether the cheap tier's answer matches the baseline
model's. One class each, in a registry (``COMPARATORS``), like the gates; the policy names them."""
