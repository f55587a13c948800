"""peakready's sample app: a restaurant chain's outlets, menus and table bookings (Starlette, asyncmy, Redis)."""
