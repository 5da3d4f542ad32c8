"""What keeps it running and visible: queue-based autoscaling, the metrics adapter, the dashboard and
alerts."""
