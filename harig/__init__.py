"""A local HA rig: a three-node RabbitMQ cluster and a Sentinel-managed Redis, on ports of their own."""
