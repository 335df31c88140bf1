"""Webhook endpoints (Standard Webhooks): registration, address guard, signed delivery."""
