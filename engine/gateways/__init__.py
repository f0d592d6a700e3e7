"""What comes in from channel gateways: events, vendor webhooks, callbacks."""
