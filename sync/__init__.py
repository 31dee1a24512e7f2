"""CRM sync: the outbox pusher, change-stream puller, the protocol and the reference CRM."""
