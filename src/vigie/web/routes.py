"""The portal's routes, gathered for the application factory."""

from __future__ import annotations

from fastapi import APIRouter

from vigie.web import auth_routes, history_routes, oidc_routes, webauthn_routes

router = APIRouter()
router.include_router(auth_routes.router)
router.include_router(oidc_routes.router)
router.include_router(history_routes.router)
router.include_router(webauthn_routes.router)
router.include_router(webauthn_routes.script_router)
