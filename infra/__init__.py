"""The iotwatch CDK app: one stack per monitoring plan, one construct per capability.

- storage.BaselineStore        DynamoDB table (baselines, alert state)
- notifications.AlertTopics    KMS-encrypted SNS topics and their subscribers
- delivery.OnCallDelivery      PagerDuty, Opsgenie and chat from the incident events
- functions.FunctionFactory    the one place Lambda defaults live
- capability.Capability        one capability's function, wired from a FunctionSpec
- detection.DeviationDetection evaluator + its schedule
- baselines.BaselineRefresh    baseline builder + its schedule + post-deploy bootstrap
- dashboard.FleetDashboard     metrics against their baseline band, iotwatch health
- stack.IotWatchStack          wires them together; app.build_app builds the App
"""
