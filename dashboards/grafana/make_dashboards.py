#!/usr/bin/env python3
"""Writes the Grafana dashboards of selgw (dashboards/grafana/dashboards/*.json).

The JSON files are committed; this script is how they are made, so that the four dashboards
share one table of fields, one data source and one way of writing a query. Edit this file
and run it again (python3 dashboards/grafana/make_dashboards.py); the integration test
tests/integration/test_grafana.py fails when the committed JSON differs from what it writes.

The queries use only the schema of docs/INFLUXDB.md: measurement "reading"; tags base, bus,
crop, device, gateway, households, plot, profile, status; a float field per sensor value,
the integer fields attempts and seq, the string fields quality and hash. Where a missing
value is a gap (a failed poll, nothing delivered), series are grouped with fill(null) and
drawn with spanNulls off, so a gap shows as a gap, never as an interpolated line. Counts
(failed polls, points arriving, coverage) use fill(0): an interval without any is a zero.

Standard library only."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dashboards")

DATASOURCE = {"type": "influxdb", "uid": "selgw-influxdb"}
MEASUREMENT = "reading"
# China has one time zone; the gateway's default utc_offset is +08:00. Days of the season
# summary are local days.
TZ = "Asia/Shanghai"

# The fields a base manager watches: key in InfluxDB and Grafana unit. Their Chinese and
# English names come from dashboards/i18n.json, the one table of names the gateway's own
# pages and alert texts use too, so a field is called the same everywhere.
WATCHED = [
    ("soil_moisture", "percent"),
    ("soil_temperature", "celsius"),
    ("soil_ec", "suffix: µS/cm"),
    ("soil_ph", "none"),
    ("air_temperature", "celsius"),
    ("air_humidity", "humidity"),
]
with open(os.path.join(HERE, "..", "i18n.json"), encoding="utf-8") as _f:
    _NAMES = json.load(_f)["fields"]
FIELDS = [(key, _NAMES[key]["zh"], _NAMES[key]["en"], unit) for key, unit in WATCHED]

TIME_FILTER = "$timeFilter"
OK = "\"status\" = 'ok'"
FAILED = "\"status\" != 'ok'"


def var_match(tag, var):
    """A tag matched against a template variable: Grafana turns $var into the value (or the
    values joined as (a|b) for several), escaped for a regular expression."""
    return f'"{tag}" =~ /^${var}$/'


def query_variable(name, label, query, multi=False, include_all=False, hide=0):
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": query, "definition": query, "refresh": 1, "sort": 1, "regex": "",
        "multi": multi, "includeAll": include_all, "hide": hide,
        "current": {}, "options": [], "skipUrlSync": False,
    }


def base_variable():
    return query_variable("base", "基地 Base",
                          f'SHOW TAG VALUES FROM "{MEASUREMENT}" WITH KEY = "base"')


def plot_variable():
    return query_variable("plot", "地块 Plot",
                          f'SHOW TAG VALUES FROM "{MEASUREMENT}" WITH KEY = "plot" '
                          f'WHERE {var_match("base", "base")}')


def device_variable():
    return query_variable("device", "设备 Device",
                          f'SHOW TAG VALUES FROM "{MEASUREMENT}" WITH KEY = "device" '
                          f'WHERE {var_match("base", "base")}', multi=True, include_all=True)


def poll_interval_variable():
    values = ["30", "60", "300", "600", "1800", "3600"]
    return {
        "name": "poll_interval", "label": "轮询间隔 (秒) Poll interval (s)", "type": "custom",
        "query": ",".join(values), "multi": False, "includeAll": False, "hide": 0,
        "current": {"selected": True, "text": "60", "value": "60"},
        "options": [{"selected": v == "60", "text": v, "value": v} for v in values],
        "skipUrlSync": False,
        "description": "The devices' `interval` from the gateway config, in seconds: a day "
                       "then has 86400 / interval expected polls.",
    }


class Dashboard:
    """Panels laid out left to right, 24 columns wide, rows as they fill."""

    def __init__(self, uid, title, description, variables, time_from="now-24h"):
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables
        self.time_from = time_from
        self.panels = []
        self.x = self.y = self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["selgw"],
            "editable": True,
            "graphTooltip": 1,
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "refresh": "1m",
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "annotations": {"list": []},
            "links": [{"title": "selgw", "type": "dashboards", "tags": ["selgw"],
                       "asDropdown": True, "includeVars": True, "keepTime": True}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def target(query, ref="A", alias="", fmt="time_series"):
    t = {"refId": ref, "datasource": DATASOURCE, "rawQuery": True, "query": query,
         "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def timeseries(title, description, targets, unit="none", bars=False, stacked=False):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 0,
        "showPoints": "auto",
        "pointSize": 4,
        # A null from fill(null) is a gap: never bridged.
        "spanNulls": False,
        "insertNulls": False,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
        "axisPlacement": "auto",
        "axisLabel": "",
        "lineInterpolation": "linear",
    }
    return {
        "type": "timeseries", "title": title, "description": description,
        "datasource": DATASOURCE, "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "none"}},
    }


def table(title, description, targets, overrides=(), hide_time=False):
    return {
        "type": "table", "title": title, "description": description,
        "datasource": DATASOURCE, "targets": targets,
        "fieldConfig": {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                        "overrides": list(overrides)},
        "options": {"showHeader": True, "cellHeight": "sm",
                    "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        "transformations": [{"id": "merge", "options": {}}] + (
            # several selectors in one query: the time column is the range's start, not a
            # reading's time, so it is not shown
            [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
            if hide_time else []),
    }


def unit_override(column, unit):
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": "unit", "value": unit}]}


def where(*conditions):
    return " AND ".join(list(conditions) + [TIME_FILTER])


def latest_table(title, description, scope, group_by):
    """The latest value of every field, one row per group."""
    columns = ", ".join(f'last("{key}") AS "{zh}"' for key, zh, _, _ in FIELDS)
    groups = ", ".join(f'"{g}"' for g in group_by)
    q = f'SELECT {columns} FROM "{MEASUREMENT}" WHERE {where(scope)} GROUP BY {groups}'
    return table(title, description, [target(q, fmt="table")],
                 [unit_override(zh, unit) for _, zh, _, unit in FIELDS], hide_time=True)


def field_series(key, zh, en, unit, scope, by, by_zh):
    q = (f'SELECT mean("{key}") AS "{zh}" FROM "{MEASUREMENT}" WHERE {where(scope)} '
         f'GROUP BY time($__interval), "{by}" fill(null)')
    return timeseries(f"{zh} (各{by_zh})",
                      f"{en}: mean per interval, one line per {by}; a gap is a time with no "
                      "reading of this field (failed polls, nothing delivered).",
                      [target(q, alias=f"$tag_{by}")], unit)


def failed_polls_series(scope, by, title, description):
    group = ", ".join(f'"{b}"' for b in by)
    q = (f'SELECT count("attempts") AS "失败次数" FROM "{MEASUREMENT}" '
         f'WHERE {where(scope, FAILED)} '
         f'GROUP BY time($__interval), {group} fill(0)')
    alias = " ".join(f"$tag_{b}" for b in by)
    return timeseries(title, description, [target(q, alias=alias)], "none", bars=True,
                      stacked=True)


def base_overview():
    d = Dashboard("selgw-base", "selgw 基地总览 Base overview",
                  "Every plot of a base at a glance: latest readings, their age, the main "
                  "fields over time per plot, failed polls.", [base_variable()])
    scope = var_match("base", "base")
    d.add(latest_table("各地块最新读数", "Latest value of each field per plot (in the time range).",
                       scope, ["plot", "crop"]), 16, 8)
    q = (f'SELECT last("seq") AS "最后序号" FROM "{MEASUREMENT}" '
         f'WHERE {where(scope, OK)} '
         f'GROUP BY "plot"')
    d.add(table("各地块最后成功读数时间",
                "Time of the last successful poll per plot (its journal seq beside it): an old "
                "time means the plot's sensors or the base's uplink are down.",
                [target(q, fmt="table")]), 8, 8)
    for key, zh, en, unit in FIELDS:
        d.add(field_series(key, zh, en, unit, scope, "plot", "地块"), 12, 8)
    d.add(failed_polls_series(scope, ["plot"], "失败轮询 (各地块)",
                              "Failed polls (status other than ok) per plot and interval."),
          24, 7)
    return d


def plot_detail():
    d = Dashboard("selgw-plot", "selgw 地块详情 Plot detail",
                  "One plot: every field per device over time, its households, failed polls.",
                  [base_variable(), plot_variable()])
    scope = var_match("base", "base") + " AND " + var_match("plot", "plot")
    d.add(latest_table("最新读数 (各设备)", "Latest value of each field per device of the plot.",
                       scope, ["device", "profile"]), 24, 6)
    for key, zh, en, unit in FIELDS:
        d.add(field_series(key, zh, en, unit, scope, "device", "设备"), 12, 8)
    d.add(failed_polls_series(scope, ["device", "status"], "失败轮询 (按设备与原因)",
                              "Failed polls of the plot's devices per interval, by why "
                              "(timeout, exception, bad_frame, ...)."), 12, 8)
    q = (f'SELECT count("quality") AS "标记读数" FROM "{MEASUREMENT}" WHERE {where(scope)} '
         f'GROUP BY time($__interval), "device" fill(0)')
    d.add(timeseries("超出有效范围的读数 (各设备)",
                     "Readings with a value flagged in their quality field (outside the "
                     "profile's valid range, or not a number) per device and interval: a "
                     "probe out of calibration, fouled or failing.",
                     [target(q, alias="$tag_device")], bars=True), 12, 8)
    q = (f'SELECT last("quality") AS "质量标记" FROM "{MEASUREMENT}" WHERE {where(scope)} '
         f'GROUP BY "device"')
    d.add(table("最近的质量标记 (各设备)",
                "The last flagged reading of each device: its time and which fields were "
                "out_of_range or invalid.", [target(q, fmt="table")]), 12, 8)
    q = (f'SELECT count("attempts") AS "读数" FROM "{MEASUREMENT}" WHERE {where(scope)} '
         f'GROUP BY "households"')
    d.add(table("承包农户与读数",
                "Households contracted on the plot (the households tag: codes joined by "
                "commas, as of each reading's day) and the number of readings under each set.",
                [target(q, fmt="table")]), 12, 8)
    return d


def device_health():
    d = Dashboard("selgw-devices", "selgw 设备健康 Device health",
                  "Per device: failed polls by why, retries, the last point of each status, "
                  "points arriving.", [base_variable(), device_variable()])
    scope = (var_match("base", "base") + " AND " + var_match("device", "device"))
    d.add(failed_polls_series(scope, ["device", "status"], "失败轮询 (按原因)",
                              "Failed polls per device and interval, by status: timeout (no "
                              "answer), exception, bad_frame, connect_failed, disconnected."),
          14, 8)
    q = (f'SELECT count("attempts") AS "失败次数", max("attempts") AS "最多尝试" '
         f'FROM "{MEASUREMENT}" WHERE {where(scope, FAILED)} GROUP BY "device", "status"')
    d.add(table("失败轮询汇总", "Failed polls per device and status in the time range, with the "
                "most attempts one took.", [target(q, fmt="table")]), 10, 8)
    q = (f'SELECT max("attempts") AS "尝试次数" FROM "{MEASUREMENT}" WHERE {where(scope)} '
         f'GROUP BY time($__interval), "device" fill(null)')
    d.add(timeseries("重试 (每次轮询的最多尝试次数)",
                     "Most attempts a poll took per device and interval (1 = no retry): "
                     "a line or sensor going bad retries before it fails.",
                     [target(q, alias="$tag_device")]), 14, 8)
    # one selector, so the row's time is that of the last point, and attempts are its own
    q = (f'SELECT last("seq") AS "序号", "attempts" AS "尝试次数" FROM "{MEASUREMENT}" '
         f'WHERE {where(scope)} GROUP BY "device", "status", "plot", "bus", "profile"')
    d.add(table("各设备最后数据点 (按状态)",
                "Last point of each device per status: the time of its last successful poll "
                "and of its last failure of each kind.", [target(q, fmt="table")]), 10, 8)
    q = (f'SELECT count("attempts") AS "数据点" FROM "{MEASUREMENT}" WHERE {where(scope)} '
         f'GROUP BY time(1h), "device" fill(0)')
    d.add(timeseries("每小时数据点 (各设备)",
                     "Points per device per hour, failed polls included: 0 means nothing "
                     "arrived (the gateway is down, or its uplink is and the data waits in "
                     "its journal).", [target(q, alias="$tag_device")], bars=True), 24, 7)
    return d


def season_summary():
    d = Dashboard("selgw-season", "selgw 季节汇总 Season summary",
                  "One plot over a season: daily minimum, mean and maximum of each field and "
                  "the coverage of each device (share of expected polls that returned ok).",
                  [base_variable(), plot_variable(), poll_interval_variable()],
                  time_from="now-90d")
    scope = var_match("base", "base") + " AND " + var_match("plot", "plot")
    for key, zh, en, unit in FIELDS:
        q = (f'SELECT min("{key}") AS "最低", mean("{key}") AS "平均", max("{key}") AS "最高" '
             f'FROM "{MEASUREMENT}" WHERE {where(scope)} '
             f"GROUP BY time(1d) fill(null) tz('{TZ}')")
        d.add(timeseries(f"{zh} 每日最低/平均/最高",
                         f"{en}: daily minimum, mean and maximum over the plot's devices "
                         "(local days); a day without readings is a gap.",
                         [target(q, alias="$col")], unit), 12, 8)
    q = (f'SELECT count("attempts") * $poll_interval * 100 / 86400 AS "覆盖率" '
         f'FROM "{MEASUREMENT}" WHERE {where(scope, OK)} '
         f"GROUP BY time(1d), \"device\" fill(0) tz('{TZ}')")
    d.add(timeseries("数据覆盖率 (各设备, 每日)",
                     "Coverage per device and local day: polls that returned ok, as a share of "
                     "the 86400 / poll_interval polls a day should have (set the poll interval "
                     "variable to the devices' interval). 0 % is a day without one good poll.",
                     [target(q, alias="$tag_device")], "percent", bars=True), 24, 8)
    return d


DASHBOARDS = [base_overview, plot_detail, device_health, season_summary]


def render(make):
    d = make()
    return d.uid, json.dumps(d.json(), ensure_ascii=False, indent=2) + "\n"


def main(argv):
    check = "--check" in argv
    os.makedirs(OUT, exist_ok=True)
    stale = []
    for make in DASHBOARDS:
        uid, text = render(make)
        path = os.path.join(OUT, uid + ".json")
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(path)
    if stale:
        print("out of date (run make_dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
