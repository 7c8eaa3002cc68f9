"""One stack per monitoring plan, assembled from one construct per capability."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import CfnOutput, Environment, RemovalPolicy, Stack, Tags
from constructs import Construct
from iotwatch import stack_outputs
from iotwatch.handlers.settings import ENV_DASHBOARD, ENV_PLAN_FILE, ENV_TABLE, ENV_TOPICS
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.runtime import RUNTIME_PLAN_FILE

from infra import health, naming
from infra.audit import ControlPlaneAudit
from infra.band_widget import BandWidget
from infra.baselines import BaselineRefresh
from infra.capability import StackParts
from infra.dashboard import FleetDashboard
from infra.delivery import OnCallDelivery
from infra.detection import DeviationDetection
from infra.devices import DeviceSignals
from infra.event_bus import grant_put_events
from infra.functions import FunctionFactory
from infra.metrics import IotWatchMetrics
from infra.notifications import AlertTopics
from infra.scheduling import DeadLetters
from infra.staging import stage_function_code
from infra.storage import BaselineStore


class IotWatchStack(Stack):
    def __init__(
        self,
        scope: Construct,
        *,
        plan: Plan,
        staging_root: str | Path,
        data_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        reserve_concurrency: bool = True,
        environ: Mapping[str, str] | None = None,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            plan.stack_name,
            env=env,  # None: environment-agnostic (see infra.app.stack_environment)
            description=f"iotwatch alerting for the '{plan.name}' AWS IoT fleet (team {plan.owners.team})",
        )
        self.plan = plan
        Tags.of(self).add("iotwatch:plan", plan.name)
        Tags.of(self).add("iotwatch:owner-team", plan.owners.team)

        self.store = BaselineStore(self, "Baselines", removal_policy=data_removal_policy)
        self.topics = AlertTopics(
            self, "Alerts", plan=plan, environ=os.environ if environ is None else environ
        )
        self.dead_letters = DeadLetters(self, "DeadLetters")
        # PagerDuty, Opsgenie and chat subscribers, from the incident events (default bus).
        self.on_call = OnCallDelivery(
            self, "OnCall", plan=plan, topics=self.topics, dead_letters=self.dead_letters
        )

        environment = {
            ENV_TABLE: self.store.table_name,
            ENV_TOPICS: self.to_json_string(self.topics.topic_arns),
            ENV_PLAN_FILE: RUNTIME_PLAN_FILE,
            "POWERTOOLS_METRICS_NAMESPACE": naming.metrics_namespace(plan),
        }
        if plan.tools.dashboard:
            environment[ENV_DASHBOARD] = naming.dashboard_name(plan)
        self.code_dir = stage_function_code(plan, staging_root=staging_root)
        factory = FunctionFactory(
            self, "Functions", code_dir=self.code_dir, environment=environment, reserve=reserve_concurrency
        )

        parts = StackParts(
            plan=plan, factory=factory, store=self.store, topics=self.topics, dead_letters=self.dead_letters
        )
        self.detection = DeviationDetection(self, "Detection", parts=parts)
        self.baselines = BaselineRefresh(self, "BaselineRefresh", parts=parts)
        self.devices: DeviceSignals | None = None
        if plan.devices is not None:
            self.devices = DeviceSignals(
                self, "Devices", plan=plan, devices=plan.devices, evaluator=self.detection.function
            )
        self.audit: ControlPlaneAudit | None = None
        if plan.tools.audit:
            self.audit = ControlPlaneAudit(
                self, "Audit", parts=parts, trail_removal_policy=data_removal_policy
            )

        # incidents and audit alerts as events, from the two functions that page
        grant_put_events(plan, self.detection.function, *([self.audit.function] if self.audit else []))

        own_metrics = IotWatchMetrics(
            plan,
            evaluator=self.detection.function,
            baseline_builder=self.baselines.function,
            audit=self.audit.function if self.audit is not None else None,
            dead_letter_queue=self.dead_letters.queue,
        )
        self.health = health.SelfMonitoring(
            self, "Health", plan=plan, metrics=own_metrics, topics=self.topics
        )

        self.dashboard: FleetDashboard | None = None
        self.band_widget: BandWidget | None = None
        if plan.tools.dashboard:
            self.band_widget = BandWidget(self, "BandWidget", parts=parts)
            self.dashboard = FleetDashboard(
                self,
                "Dashboard",
                plan=plan,
                metrics=own_metrics,
                band_widget=self.band_widget.function,
                audit_log_group=self.audit.function.log_group if self.audit is not None else None,
                alarms=self.health.alarms,
            )

        self._outputs()

    def _outputs(self) -> None:
        """Read back by the demo and the CLI, by these exact names (see infra.naming)."""
        CfnOutput(
            self,
            stack_outputs.OUTPUT_TABLE_NAME,
            value=self.store.table_name,
            description="baselines and alert state",
        )
        for name, arn in self.topics.topic_arns.items():
            CfnOutput(
                self, stack_outputs.topic_output_name(name), value=arn, description=f"SNS topic '{name}'"
            )
        CfnOutput(self, stack_outputs.OUTPUT_EVALUATOR_FUNCTION, value=self.detection.function_name)
        CfnOutput(self, stack_outputs.OUTPUT_BASELINE_BUILDER_FUNCTION, value=self.baselines.function_name)
        CfnOutput(self, stack_outputs.OUTPUT_DEAD_LETTER_QUEUE, value=self.dead_letters.queue.queue_url)
        if self.dashboard is not None:
            CfnOutput(
                self, stack_outputs.OUTPUT_DASHBOARD_NAME, value=self.dashboard.dashboard.dashboard_name
            )
        if self.audit is not None:
            CfnOutput(self, stack_outputs.OUTPUT_AUDIT_FUNCTION, value=self.audit.function_name)
            CfnOutput(self, stack_outputs.OUTPUT_AUDIT_RULE, value=self.audit.rule_name)
