"""The shop: a team's app, served from shop.wsgi:app."""
