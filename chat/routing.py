from django.urls import re_path

from chat.transports.websocket.consumer import ChatConsumer
from chat.transports.websocket.staff_tail import StaffTailConsumer

websocket_urlpatterns = [
    re_path(r"^ws/chat/(?P<conversation_id>[^/]+)/$", ChatConsumer.as_asgi()),
    re_path(r"^ws/admin/tail/(?P<conversation_id>[^/]+)/$", StaffTailConsumer.as_asgi()),
]
