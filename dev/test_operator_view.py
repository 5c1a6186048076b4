"""The operator's view in template.yaml (issue 21 item 4), as CloudFormation gets it from SAM's
translator: every function logs to a group of its own that keeps LogRetentionDays, the HTTP API
writes a JSON access log that keeps AccessLogRetentionDays, every alarm notifies the alarm topic,
and the dashboard is JSON whose cold-start query reads every function's group. Run by dev/test."""
from __future__ import annotations

import json
import unittest

from sim.common import FUNCTION, HTTP_API, LAMBDA_FUNCTION, REPO
from sim.sam import translate
from sim.template import Resolver, load_template, parameter_values

LOG_GROUP, ALARM, DASHBOARD, TOPIC = "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SNS::Topic"

TEMPLATE = load_template(REPO / "template.yaml")
PARAMS = parameter_values(TEMPLATE, {})
RESOURCES = TEMPLATE["Resources"]


def of_type(resources: dict, kind: str) -> dict[str, dict]:
    return {lid: resource for lid, resource in resources.items() if resource["Type"] == kind}


def log_group_keeping(reference: object, parameter: str) -> str | None:
    """The logical id of the log group `reference` names (Ref or GetAtt .Arn) if it keeps its lines
    for `parameter` days, else None."""
    lid = (reference or {}).get("Ref") or ((reference or {}).get("Fn::GetAtt") or [None])[0]
    group = RESOURCES.get(lid, {})
    keeps = (group.get("Properties") or {}).get("RetentionInDays") == {"Ref": parameter}
    return lid if group.get("Type") == LOG_GROUP and keeps else None


class LogGroups(unittest.TestCase):
    def test_every_function_logs_to_a_group_of_its_own_that_keeps_log_retention_days(self) -> None:
        functions = of_type(translate(TEMPLATE, PARAMS)["Resources"], LAMBDA_FUNCTION)
        self.assertEqual(len(functions), len(of_type(RESOURCES, FUNCTION)))
        groups = {}
        for lid, function in functions.items():
            reference = (function["Properties"].get("LoggingConfig") or {}).get("LogGroup")
            group = log_group_keeping(reference, "LogRetentionDays")
            self.assertIsNotNone(group, f"{lid} logs to {reference}, not a group that keeps LogRetentionDays")
            self.assertNotIn(group, groups, f"{lid} shares {group} with {groups.get(group)}")
            groups[group] = lid
        self.assertEqual(TEMPLATE["Parameters"]["LogRetentionDays"]["Default"], 30)

    def test_the_api_writes_a_json_access_log_that_keeps_its_own_retention(self) -> None:
        (api,) = of_type(RESOURCES, HTTP_API).values()
        settings = api["Properties"]["AccessLogSettings"]
        self.assertIsNotNone(log_group_keeping(settings["DestinationArn"], "AccessLogRetentionDays"))
        fields = json.loads(settings["Format"])
        expected = {"requestId": "$context.requestId", "routeKey": "$context.routeKey", "status": "$context.status",
                    "latencyMs": "$context.responseLatency", "sourceIp": "$context.identity.sourceIp",
                    "integrationError": "$context.integrationErrorMessage"}
        self.assertEqual({name: fields.get(name) for name in expected}, expected)
        self.assertIs(api["Properties"]["DefaultRouteSettings"]["DetailedMetricsEnabled"], True)


class Alarms(unittest.TestCase):
    def test_every_alarm_notifies_the_alarm_topic(self) -> None:
        alarms = of_type(RESOURCES, ALARM)
        self.assertEqual(RESOURCES["AlarmTopic"]["Type"], TOPIC)
        for lid, alarm in alarms.items():
            self.assertIn({"Ref": "AlarmTopic"}, alarm["Properties"].get("AlarmActions") or [], lid)

    def test_the_issue_s_alarms_are_there(self) -> None:
        metrics = {alarm["Properties"].get("MetricName") for alarm in of_type(RESOURCES, ALARM).values()}
        for metric in ["OutboxOldestJobAge", "RateLimiterUnreachable", "CacheRefreshLost", "Errors",
                       "ApproximateNumberOfMessagesVisible"]:
            self.assertIn(metric, metrics)


class Dashboard(unittest.TestCase):
    def test_the_dashboard_is_json_and_its_cold_start_query_reads_every_function_s_group(self) -> None:
        (dashboard,) = of_type(RESOURCES, DASHBOARD).values()
        res = Resolver(TEMPLATE, PARAMS, "local")
        widgets = json.loads(res.resolve(dashboard["Properties"]["DashboardBody"]))["widgets"]
        (query,) = [widget["properties"]["query"] for widget in widgets if widget["type"] == "log"]
        groups = {log_group_keeping({"Ref": lid}, "LogRetentionDays") for lid in of_type(RESOURCES, LOG_GROUP)} - {None}
        self.assertEqual(len(groups), len(of_type(RESOURCES, FUNCTION)))
        for group in groups:
            self.assertIn(f"SOURCE '{group}'", query)


if __name__ == "__main__":
    unittest.main()
