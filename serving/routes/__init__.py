"""The API's routes, one ``APIRouter`` per concern; ``serving.app.create_app`` includes them."""
