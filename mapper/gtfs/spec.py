"""The part of the GTFS Schedule reference the importer checks, and the notice codes and severities of the
MobilityData GTFS validator for the same problems (so reports read like the validator's)."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITY = {
    "missing_required_file": "ERROR",
    "missing_required_column": "ERROR",
    "missing_required_field": "ERROR",
    "duplicate_key": "ERROR",
    "foreign_key_violation": "ERROR",
    "number_out_of_range": "ERROR",
    "point_near_origin": "ERROR",
    "invalid_time": "ERROR",
    "invalid_date": "ERROR",
    "invalid_float": "ERROR",
    "invalid_integer": "ERROR",
    "invalid_color": "ERROR",
    "duplicated_column": "ERROR",
    "empty_column_name": "ERROR",
    "empty_file": "ERROR",
    "csv_parsing_failed": "ERROR",
    "missing_calendar_and_calendar_date_files": "ERROR",
    "route_both_short_and_long_name_missing": "ERROR",
    "start_and_end_range_out_of_order": "ERROR",
    "stop_without_stop_time": "WARNING",
    "unused_trip": "WARNING",
    "unused_shape": "WARNING",
    "expired_calendar": "WARNING",
    "unknown_column": "INFO",
    "unknown_file": "INFO",
    # Ours: a row with fewer fields than the header (trailing empty fields dropped). The MobilityData
    # validator calls any ragged row invalid_row_length (ERROR); GTFS readers such as gtfs-kit and GDAL accept
    # short rows, and so do we, with a warning. Rows with too many fields still fail (csv_parsing_failed).
    "short_row": "WARNING",
}


@dataclass(frozen=True)
class FileSpec:
    name: str
    columns: tuple[str, ...]  # every column the importer knows
    required: tuple[str, ...] = ()  # required columns, whose values must also be present
    key: tuple[str, ...] = ()
    required_file: bool = False
    times: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    ranges: dict = field(default_factory=dict)  # column -> (min, max)


FILES = {
    f.name: f
    for f in (
        FileSpec(
            "agency.txt",
            (
                "agency_id",
                "agency_name",
                "agency_url",
                "agency_timezone",
                "agency_lang",
                "agency_phone",
                "agency_fare_url",
                "agency_email",
            ),
            required=("agency_name", "agency_url", "agency_timezone"),
            key=("agency_id",),
            required_file=True,
        ),
        FileSpec(
            "stops.txt",
            (
                "stop_id",
                "stop_code",
                "stop_name",
                "tts_stop_name",
                "stop_desc",
                "stop_lat",
                "stop_lon",
                "zone_id",
                "stop_url",
                "location_type",
                "parent_station",
                "stop_timezone",
                "wheelchair_boarding",
                "level_id",
                "platform_code",
            ),
            required=("stop_id",),
            key=("stop_id",),
            required_file=True,
            floats=("stop_lat", "stop_lon"),
            integers=("location_type", "wheelchair_boarding"),
            ranges={"stop_lat": (-90, 90), "stop_lon": (-180, 180)},
        ),
        FileSpec(
            "routes.txt",
            (
                "route_id",
                "agency_id",
                "route_short_name",
                "route_long_name",
                "route_desc",
                "route_type",
                "route_url",
                "route_color",
                "route_text_color",
                "route_sort_order",
                "continuous_pickup",
                "continuous_drop_off",
                "network_id",
            ),
            required=("route_id", "route_type"),
            key=("route_id",),
            required_file=True,
            integers=("route_type", "route_sort_order"),
            colors=("route_color", "route_text_color"),
        ),
        FileSpec(
            "trips.txt",
            (
                "route_id",
                "service_id",
                "trip_id",
                "trip_headsign",
                "trip_short_name",
                "direction_id",
                "block_id",
                "shape_id",
                "wheelchair_accessible",
                "bikes_allowed",
            ),
            required=("route_id", "service_id", "trip_id"),
            key=("trip_id",),
            required_file=True,
            integers=("direction_id", "wheelchair_accessible", "bikes_allowed"),
            ranges={"direction_id": (0, 1)},
        ),
        FileSpec(
            "stop_times.txt",
            (
                "trip_id",
                "arrival_time",
                "departure_time",
                "stop_id",
                "stop_sequence",
                "stop_headsign",
                "pickup_type",
                "drop_off_type",
                "continuous_pickup",
                "continuous_drop_off",
                "shape_dist_traveled",
                "timepoint",
                "location_group_id",
                "location_id",
                "start_pickup_drop_off_window",
                "end_pickup_drop_off_window",
            ),
            required=("trip_id", "stop_id", "stop_sequence"),
            key=("trip_id", "stop_sequence"),
            required_file=True,
            times=("arrival_time", "departure_time"),
            integers=("stop_sequence", "pickup_type", "drop_off_type", "timepoint"),
            floats=("shape_dist_traveled",),
        ),
        FileSpec(
            "calendar.txt",
            (
                "service_id",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "start_date",
                "end_date",
            ),
            required=(
                "service_id",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "start_date",
                "end_date",
            ),
            key=("service_id",),
            dates=("start_date", "end_date"),
            integers=("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            ranges={d: (0, 1) for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
        ),
        FileSpec(
            "calendar_dates.txt",
            ("service_id", "date", "exception_type"),
            required=("service_id", "date", "exception_type"),
            key=("service_id", "date"),
            dates=("date",),
            integers=("exception_type",),
            ranges={"exception_type": (1, 2)},
        ),
        FileSpec(
            "frequencies.txt",
            ("trip_id", "start_time", "end_time", "headway_secs", "exact_times"),
            required=("trip_id", "start_time", "end_time", "headway_secs"),
            key=("trip_id", "start_time"),
            times=("start_time", "end_time"),
            integers=("headway_secs", "exact_times"),
            ranges={"headway_secs": (1, 86400)},
        ),
        FileSpec(
            "shapes.txt",
            ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"),
            required=("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
            key=("shape_id", "shape_pt_sequence"),
            floats=("shape_pt_lat", "shape_pt_lon", "shape_dist_traveled"),
            integers=("shape_pt_sequence",),
            ranges={"shape_pt_lat": (-90, 90), "shape_pt_lon": (-180, 180)},
        ),
    )
}

# (child file, child column, parent file, parent column)
FOREIGN_KEYS = (
    ("trips.txt", "route_id", "routes.txt", "route_id"),
    ("stop_times.txt", "trip_id", "trips.txt", "trip_id"),
    ("stop_times.txt", "stop_id", "stops.txt", "stop_id"),
    ("frequencies.txt", "trip_id", "trips.txt", "trip_id"),
    ("trips.txt", "shape_id", "shapes.txt", "shape_id"),
    ("stops.txt", "parent_station", "stops.txt", "stop_id"),
)
# Route types counted at 1 km rather than 500 m for access (UN SDG 11.2.1 high-capacity modes).
HIGH_CAPACITY_ROUTE_TYPES = (1, 2, 4, 12)
