"""Typed models of kaosgen's inputs: the three KAOS kinds (every schema era) and kaosgen.yaml."""

from kaosgen.models.agent import Agent
from kaosgen.models.mcpserver import MCPServer
from kaosgen.models.modelapi import ModelAPI
from kaosgen.models.project import Project

API_GROUP = "kaos.tools"
API_VERSION = "kaos.tools/v1alpha1"
KINDS = {"Agent": Agent, "ModelAPI": ModelAPI, "MCPServer": MCPServer}

__all__ = ["API_GROUP", "API_VERSION", "KINDS", "Agent", "MCPServer", "ModelAPI", "Project"]
