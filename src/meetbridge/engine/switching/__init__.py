"""Switching a profile's mechanism: the plan of every future event's move, and the make-before-break
moves themselves."""

from meetbridge.engine.switching.moves import Migrator
from meetbridge.engine.switching.plan import MigrationPlan, PlannedEvent, Planner, plan_lines, plans_for

__all__ = ["MigrationPlan", "Migrator", "PlannedEvent", "Planner", "plan_lines", "plans_for"]
