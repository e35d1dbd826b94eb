"""What an operator manages from the admin pages and the CLI: API keys, reviewers, failing callbacks."""
