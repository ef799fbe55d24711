"""The webhook door: answers followed as they stream (producer.py: chunks written to
the outbox) and posted to their receivers (worker.py, sender.py). Its JSON API is the
JSON API's (chat/transports/http/webhooks.py); its rules are chat/webhooks/."""
