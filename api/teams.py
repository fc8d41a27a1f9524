"""`/api/v1/teams/`: the support structure, with who is open now and when the others open."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import ErrorOut
from api.shapes import TeamOut
from teams import calendar
from teams.models import Team
from teams.selectors import team_calendar, teams_with_calendars


class TeamListView(APIView):
    @extend_schema(
        operation_id="teams_list",
        responses={200: TeamOut(many=True), 401: OpenApiResponse(ErrorOut)},
    )
    def get(self, request):
        now = timezone.now()
        teams = list(teams_with_calendars(Team.objects.filter(active=True)))
        for team in teams:
            cal = team_calendar(team)
            try:
                team.open_now = calendar.is_open(now, cal)
                team.next_open_at = None if team.open_now else calendar.next_open(now, cal)
            except calendar.AlwaysClosedError:  # no working time ahead: it never opens
                team.open_now, team.next_open_at = False, None
        return Response(TeamOut(teams, many=True).data)
