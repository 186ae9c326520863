"""The HTTP API: the Litestar app factory, JSON controllers, auth guards and the error mapping."""
