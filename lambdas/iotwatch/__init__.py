"""iotwatch: serverless alerting for AWS IoT Core fleets."""

__version__ = "0.1.0"
