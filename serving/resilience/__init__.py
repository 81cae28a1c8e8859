"""What keeps the service answering when Redis or the graph fails or slows: guards, the graph's thread lane and a
request's graph budget."""
