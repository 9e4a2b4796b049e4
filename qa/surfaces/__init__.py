"""What people use: the CLI, the web page and JSON API, the watcher and the evaluation."""
