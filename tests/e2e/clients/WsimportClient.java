// A client of the code wsimport generates from the WSDL (with bindings.xml, as
// docs/api-evolution.md recommends), written as JAX-WS documents it: the service class,
// Basic credentials on the BindingProvider, declared faults caught as their generated
// exceptions. Arguments: WSDL URL, key id, secret. It prints one line per step.
import feedloop.v1.*;
import java.net.URL;
import java.util.Map;
import javax.xml.ws.BindingProvider;

public class WsimportClient {
    static Feedloop port(String wsdl, String key, String secret) throws Exception {
        Feedloop port = new FeedloopService(new URL(wsdl)).getFeedloop();
        Map<String, Object> context = ((BindingProvider) port).getRequestContext();
        context.put(BindingProvider.USERNAME_PROPERTY, key);
        context.put(BindingProvider.PASSWORD_PROPERTY, secret);
        return port;
    }

    public static void main(String[] args) throws Exception {
        Feedloop port = port(args[0], args[1], args[2]);
        Question nps = new Question();
        nps.setKey("nps");
        nps.setType("nps");
        nps.setText("How likely?");
        CreateSurvey survey = new CreateSurvey();
        survey.setTitle("Java");
        survey.setLanguage("en");
        survey.getQuestions().add(nps);
        CreateCampaign campaign = new CreateCampaign();
        campaign.setSurveyId(port.createSurvey(survey).getCreateSurveyResult().getSurveyId());
        campaign.setName("Java");
        GetTrackingUrl tracking = new GetTrackingUrl();
        tracking.setCampaignId(port.createCampaign(campaign).getCreateCampaignResult()
                .getCampaignId());
        tracking.setEmail("java@example.com");
        String url = port.getTrackingUrl(tracking).getGetTrackingUrlResult().getUrl();
        System.out.println("url " + url.replaceAll("/s/.*", "/s/<token>"));
        try {
            port(args[0], args[1], "wrong-secret").listSurveys(new ListSurveys());
        } catch (UnauthorizedFault_Exception refused) {
            System.out.println("UnauthorizedFault " + refused.getFaultInfo().getCode() + ": "
                    + refused.getFaultInfo().getMessage());
        }
        tracking.setEmail(null);
        try {
            port.getTrackingUrl(tracking);
        } catch (ValidationErrorFault_Exception invalid) {
            System.out.println("ValidationErrorFault " + invalid.getFaultInfo().getCode() + ": "
                    + invalid.getFaultInfo().getField());
        }
    }
}
