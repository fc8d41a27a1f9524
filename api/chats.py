"""`POST /api/v1/chats/`: start a live chat, or continue a ticket in chat (API.md, "Live chat")."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import ERRORS, ID_MAX, JSON_ONLY, ErrorOut, TicketCreateThrottle, valid
from tickets.models import Category, Ticket
from usecases.chat import chat_start


@extend_schema_serializer(component_name="ChatCreate")
class ChatCreateIn(serializers.Serializer):
    subject = serializers.CharField(
        max_length=Ticket._meta.get_field("subject").max_length,
        required=False,
        allow_blank=True,
        default="",
    )
    body = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The first message; required to open a new chat.",
    )
    category = serializers.ChoiceField(choices=Category.choices, default=Category.OTHER)
    ticket = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=ID_MAX,
        help_text="One of your tickets, to continue in chat in the same thread.",
    )

    def validate_body(self, value: str) -> str:
        if len(value) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise serializers.ValidationError(
                serializers.CharField.default_error_messages["max_length"].format(
                    max_length=settings.CHAT_MAX_MESSAGE_CHARS
                )
            )
        return value


@extend_schema_serializer(component_name="Chat")
class ChatOut(serializers.Serializer):
    ticket = serializers.IntegerField()
    websocket = serializers.CharField(help_text="Path of the conversation's WebSocket.")


def websocket_path(ticket_id: int) -> str:
    return f"/ws/conversations/{ticket_id}/"


class ChatCreateView(APIView):
    parser_classes = JSON_ONLY

    def get_throttles(self):
        # Opening a chat opens a ticket: the same limit as opening one through the API.
        data = self.request.data
        if not (isinstance(data, dict) and data.get("ticket") is not None):
            return [TicketCreateThrottle()]
        return super().get_throttles()

    @extend_schema(
        operation_id="chats_create",
        request=ChatCreateIn,
        responses={
            201: ChatOut,
            403: OpenApiResponse(ErrorOut, description="Only customers start a chat"),
            409: OpenApiResponse(ErrorOut, description="The ticket is closed"),
            429: OpenApiResponse(ErrorOut),
            **ERRORS,
        },
    )
    def post(self, request):
        data = valid(ChatCreateIn, request.data)
        ticket = chat_start(
            customer=request.user,
            now=timezone.now(),
            ticket_id=data.get("ticket"),
            subject=data["subject"],
            body=data["body"],
            category=data["category"],
        )
        return Response(
            ChatOut({"ticket": ticket.pk, "websocket": websocket_path(ticket.pk)}).data,
            status=status.HTTP_201_CREATED,
        )
