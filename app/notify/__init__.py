"""Telling people a draft waits: the review.created messages and how an item is named to a person.

Below the task runner (which announces the drafts its outcomes hold) and above execution (the outbox
that delivers them), so the runner and the review service both use it without importing each other.
"""
